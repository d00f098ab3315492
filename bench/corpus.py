"""Benchmark corpora: synthetic French/English pages, real chunk embeddings, synthetic vectors.

    .venv/bin/python bench/corpus.py pages --count 3 [--seed 7]        # print generated pages
    .venv/bin/python bench/corpus.py embed --count 100000 [--embedder use-multilingual-v3]

* ``generate_pages`` writes business-like pages (insurance, HR, finance, legal, health,
  IT, real estate, logistics) in French and English from slot-filled templates with
  names, places, amounts, dates and reference numbers. The combinations are many, so
  chunks are distinct and spread out in embedding space rather than a handful of
  repeated sentences (which would make recall figures meaningless: ties everywhere).
  ``bench/ingest.py`` can reuse it to build PDFs.
* ``chunk_corpus`` cuts the dev QA corpus (real Wikipedia, government FAQ, COVID papers
  and financial-report text) and then generated pages into chunks with the production
  chunker, up to a requested count.
* ``embed_cached`` embeds those chunks with a real embedder and caches the vectors in
  ``bench/out/cache`` (git-ignored), block by block, so a long job is resumable and a
  partial cache is usable.
* ``VectorStats`` / ``synthetic_vectors``: for sizes where real embedding would take
  hours (1M chunks at ~35 chunks/s), vectors are drawn from a Gaussian with the mean and
  covariance of real ones and L2-normalised, so the index sees the same anisotropy
  (USE vectors are far from isotropic) as with real data.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import random
import re
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEV_QA = Path(os.environ.get("DOCINTEL_DEV_QA", ROOT.parent / "shared" / "eval" / "dev" / "qa"))
CACHE = ROOT / "bench" / "out" / "cache"

# -- synthetic pages --------------------------------------------------------------------

_FR = {
    "domains": {
        "assurance": {
            "subjects": ["l'assuré", "l'assureur", "le souscripteur", "le bénéficiaire", "l'expert mandaté",
                         "le courtier", "la compagnie", "le gestionnaire de sinistres"],
            "verbs": ["déclare", "conteste", "indemnise", "constate", "évalue", "refuse", "accepte", "rembourse"],
            "objects": ["le sinistre", "le dégât des eaux", "la franchise", "la prime annuelle",
                        "la garantie vol", "le bris de glace", "l'avenant au contrat", "la clause d'exclusion",
                        "le rapport d'expertise", "la résiliation anticipée"],
        },
        "rh": {
            "subjects": ["le salarié", "la direction des ressources humaines", "le manager", "la candidate",
                         "le comité social et économique", "l'employeur", "la stagiaire", "le délégué syndical"],
            "verbs": ["signe", "négocie", "valide", "prolonge", "suspend", "examine", "propose", "notifie"],
            "objects": ["le contrat de travail", "la période d'essai", "les congés payés", "l'entretien annuel",
                        "la mutuelle d'entreprise", "le télétravail", "la prime d'intéressement",
                        "la rupture conventionnelle", "le plan de formation", "les heures supplémentaires"],
        },
        "finance": {
            "subjects": ["le directeur financier", "le commissaire aux comptes", "la trésorerie", "le conseil",
                         "l'actionnaire", "la filiale", "le contrôleur de gestion", "la banque"],
            "verbs": ["publie", "provisionne", "consolide", "audite", "refinance", "cède", "acquiert", "budgète"],
            "objects": ["le chiffre d'affaires", "l'excédent brut d'exploitation", "la dette nette",
                        "le dividende", "le bilan consolidé", "la marge opérationnelle", "les flux de trésorerie",
                        "l'écart d'acquisition", "le prêt syndiqué", "les capitaux propres"],
        },
        "juridique": {
            "subjects": ["le tribunal judiciaire", "la cour d'appel", "le requérant", "l'avocat de la défense",
                         "le notaire", "l'huissier", "la partie adverse", "le juge des référés"],
            "verbs": ["ordonne", "rejette", "homologue", "annule", "confirme", "signifie", "renvoie", "condamne"],
            "objects": ["le jugement", "la mise en demeure", "le bail commercial", "la clause pénale",
                        "l'acte de cession", "la procédure collective", "les dommages et intérêts",
                        "le pourvoi en cassation", "la transaction", "le compromis de vente"],
        },
        "santé": {
            "subjects": ["le patient", "le médecin traitant", "l'infirmière", "le service des urgences",
                         "la caisse primaire", "le laboratoire", "le pharmacien", "le chirurgien"],
            "verbs": ["prescrit", "diagnostique", "hospitalise", "vaccine", "oriente", "analyse", "soigne", "suit"],
            "objects": ["le traitement antibiotique", "l'arrêt de travail", "la consultation", "le bilan sanguin",
                        "l'ordonnance", "la rééducation", "le dossier médical", "la prise en charge",
                        "l'imagerie par résonance", "le protocole de soins"],
        },
        "informatique": {
            "subjects": ["l'administrateur système", "le prestataire", "l'équipe de sécurité", "le développeur",
                         "le responsable du traitement", "le centre de données", "l'utilisateur", "le RSSI"],
            "verbs": ["déploie", "sauvegarde", "chiffre", "migre", "supervise", "corrige", "restaure", "journalise"],
            "objects": ["le serveur de fichiers", "la base de données", "le pare-feu", "l'annuaire des comptes",
                        "la sauvegarde nocturne", "le correctif de sécurité", "l'incident de production",
                        "le registre des traitements", "la politique de mots de passe", "le réseau privé"],
        },
        "immobilier": {
            "subjects": ["le locataire", "le bailleur", "le syndic", "l'agence", "le copropriétaire",
                         "le diagnostiqueur", "l'acquéreur", "le gardien"],
            "verbs": ["loue", "rénove", "visite", "estime", "entretient", "répare", "vend", "inspecte"],
            "objects": ["l'appartement", "les charges de copropriété", "le dépôt de garantie", "la toiture",
                        "le diagnostic énergétique", "l'état des lieux", "la chaudière", "le parking",
                        "les travaux de ravalement", "le règlement intérieur"],
        },
        "logistique": {
            "subjects": ["le transporteur", "l'entrepôt", "le chauffeur", "le fournisseur", "le client",
                         "le service achats", "la plateforme", "le douanier"],
            "verbs": ["livre", "expédie", "réceptionne", "stocke", "facture", "retourne", "commande", "trace"],
            "objects": ["la palette", "le bon de livraison", "la commande urgente", "le conteneur",
                        "la facture pro forma", "le colis endommagé", "le stock de sécurité",
                        "la déclaration en douane", "le créneau de livraison", "l'inventaire"],
        },
    },
    "times": ["le {d} {m} {y}", "avant le {d} {m} {y}", "depuis le {d} {m} {y}", "au cours du trimestre",
              "dans un délai de {n} jours", "à l'échéance du {d} {m} {y}", "chaque mois", "sans délai"],
    "months": ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
               "octobre", "novembre", "décembre"],
    "places": ["à Lyon", "à Marseille", "à Lille", "à Bordeaux", "à Nantes", "à Strasbourg", "à Rennes",
               "à Toulouse", "à Grenoble", "à Dijon", "en Bretagne", "en Île-de-France", "au siège social",
               "dans l'agence de Nice"],
    "amount": "pour un montant de {a} euros",
    "ref": "(référence {r})",
    "templates": [
        "{S} {V} {O} {T}.",
        "{T}, {S} {V} {O} {P}.",
        "{S} {V} {O} {A} {R}.",
        "Selon {S2}, {S} {V} {O} {P} {T}.",
        "Il est rappelé que {S} {V} {O} {A}.",
        "Conformément à l'article {n}, {S} {V} {O} {T}.",
        "{S} {V} {O} ; {S2} {V2} ensuite {O2} {P}.",
        "M. {name} {V} {O} {A} {T}.",
        "Mme {name} indique que {S} {V} {O} {P}.",
    ],
    "titles": ["Rapport", "Compte rendu", "Note interne", "Avenant", "Procès-verbal", "Courrier", "Dossier"],
}

_EN = {
    "domains": {
        "insurance": {
            "subjects": ["the policyholder", "the insurer", "the underwriter", "the beneficiary",
                         "the loss adjuster", "the broker", "the carrier", "the claims handler"],
            "verbs": ["reports", "disputes", "settles", "assesses", "reviews", "denies", "approves", "reimburses"],
            "objects": ["the claim", "the water damage", "the deductible", "the annual premium", "theft cover",
                        "the windscreen damage", "the policy endorsement", "the exclusion clause",
                        "the survey report", "the early cancellation"],
        },
        "hr": {
            "subjects": ["the employee", "human resources", "the line manager", "the applicant",
                         "the works council", "the employer", "the intern", "the union representative"],
            "verbs": ["signs", "negotiates", "approves", "extends", "suspends", "examines", "offers", "notifies"],
            "objects": ["the employment contract", "the probation period", "paid leave", "the annual review",
                        "the health plan", "remote work", "the profit-sharing bonus", "the severance agreement",
                        "the training plan", "overtime hours"],
        },
        "finance": {
            "subjects": ["the chief financial officer", "the statutory auditor", "the treasury team", "the board",
                         "the shareholder", "the subsidiary", "the controller", "the lending bank"],
            "verbs": ["publishes", "provisions", "consolidates", "audits", "refinances", "divests", "acquires",
                      "budgets"],
            "objects": ["revenue", "adjusted EBITDA", "net debt", "the dividend", "the consolidated balance sheet",
                        "the operating margin", "free cash flow", "goodwill", "the syndicated loan",
                        "shareholders' equity"],
        },
        "legal": {
            "subjects": ["the district court", "the court of appeal", "the claimant", "defence counsel",
                         "the notary", "the bailiff", "the opposing party", "the interim relief judge"],
            "verbs": ["orders", "dismisses", "approves", "annuls", "upholds", "serves", "remands", "sentences"],
            "objects": ["the judgment", "the formal notice", "the commercial lease", "the penalty clause",
                        "the deed of transfer", "the insolvency proceedings", "damages", "the appeal",
                        "the settlement", "the sale agreement"],
        },
        "health": {
            "subjects": ["the patient", "the general practitioner", "the nurse", "the emergency department",
                         "the health insurer", "the laboratory", "the pharmacist", "the surgeon"],
            "verbs": ["prescribes", "diagnoses", "admits", "vaccinates", "refers", "tests", "treats", "monitors"],
            "objects": ["the antibiotic course", "sick leave", "the consultation", "the blood panel",
                        "the prescription", "physiotherapy", "the medical record", "the treatment plan",
                        "the MRI scan", "the care protocol"],
        },
        "it": {
            "subjects": ["the system administrator", "the contractor", "the security team", "the developer",
                         "the data controller", "the data centre", "the end user", "the CISO"],
            "verbs": ["deploys", "backs up", "encrypts", "migrates", "monitors", "patches", "restores", "logs"],
            "objects": ["the file server", "the database", "the firewall", "the account directory",
                        "the nightly backup", "the security patch", "the production incident",
                        "the processing register", "the password policy", "the private network"],
        },
        "real estate": {
            "subjects": ["the tenant", "the landlord", "the managing agent", "the agency", "the co-owner",
                         "the surveyor", "the buyer", "the caretaker"],
            "verbs": ["leases", "renovates", "inspects", "values", "maintains", "repairs", "sells", "visits"],
            "objects": ["the flat", "the service charges", "the security deposit", "the roof",
                        "the energy certificate", "the inventory report", "the boiler", "the parking space",
                        "the facade works", "the house rules"],
        },
        "logistics": {
            "subjects": ["the carrier", "the warehouse", "the driver", "the supplier", "the customer",
                         "procurement", "the platform", "the customs officer"],
            "verbs": ["delivers", "ships", "receives", "stores", "invoices", "returns", "orders", "tracks"],
            "objects": ["the pallet", "the delivery note", "the rush order", "the container",
                        "the pro forma invoice", "the damaged parcel", "the safety stock",
                        "the customs declaration", "the delivery slot", "the stock count"],
        },
    },
    "times": ["on {m} {d}, {y}", "before {m} {d}, {y}", "since {m} {d}, {y}", "during the quarter",
              "within {n} days", "at the {m} {y} renewal", "every month", "without delay"],
    "months": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December"],
    "places": ["in Manchester", "in Leeds", "in Bristol", "in Boston", "in Denver", "in Toronto", "in Dublin",
               "in Glasgow", "in Austin", "in Cardiff", "at head office", "in the Midlands",
               "at the Seattle branch", "in the Northern region"],
    "amount": "for an amount of ${a}",
    "ref": "(reference {r})",
    "templates": [
        "{S} {V} {O} {T}.",
        "{T}, {S} {V} {O} {P}.",
        "{S} {V} {O} {A} {R}.",
        "According to {S2}, {S} {V} {O} {P} {T}.",
        "It is noted that {S} {V} {O} {A}.",
        "Under section {n}, {S} {V} {O} {T}.",
        "{S} {V} {O}; {S2} then {V2} {O2} {P}.",
        "Mr {name} {V} {O} {A} {T}.",
        "Ms {name} states that {S} {V} {O} {P}.",
    ],
    "titles": ["Report", "Minutes", "Internal memo", "Amendment", "Statement", "Letter", "Case file"],
}

_NAMES = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
          "Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Clark",
          "Nguyen", "Garcia", "Rossi", "Müller", "Kowalski", "Haddad", "Diallo", "Silva", "Novak", "Berg"]


def _sentence(rng: random.Random, lang: dict, domain: str) -> str:
    words = lang["domains"][domain]
    other = lang["domains"][rng.choice(list(lang["domains"]))]
    day, month, year = rng.randint(1, 28), rng.choice(lang["months"]), rng.randint(2015, 2026)
    fill = {
        "S": rng.choice(words["subjects"]),
        "S2": rng.choice(words["subjects"] + other["subjects"]),
        "V": rng.choice(words["verbs"]),
        "V2": rng.choice(words["verbs"]),
        "O": rng.choice(words["objects"]),
        "O2": rng.choice(words["objects"] + other["objects"]),
        "T": rng.choice(lang["times"]).format(d=day, m=month, y=year, n=rng.randint(2, 90)),
        "P": rng.choice(lang["places"]),
        "A": lang["amount"].format(a=f"{rng.randint(80, 2_500_000):,}".replace(",", " ")),
        "R": lang["ref"].format(r=f"{rng.choice('ABCDEFGHKMPRSTZ')}{rng.choice('ABCDEFGHKMPRSTZ')}-"
                                  f"{rng.randint(100000, 999999)}"),
        "n": rng.randint(1, 240),
        "name": rng.choice(_NAMES),
    }
    text = rng.choice(lang["templates"]).format(**fill)
    return text[0].upper() + text[1:]


def generate_pages(count: int, *, seed: int = 7, french_share: float = 0.5,
                   paragraphs: tuple[int, int] = (3, 6), sentences: tuple[int, int] = (3, 7)) -> Iterator[str]:
    """``count`` pages of text, deterministic for a seed.

    Each page has one language and one main domain (pages stay on topic, as real
    documents do) with a title line and a few paragraphs of slot-filled sentences.
    """
    rng = random.Random(seed)
    for number in range(count):
        lang = _FR if rng.random() < french_share else _EN
        domain = rng.choice(list(lang["domains"]))
        lines = [f"{rng.choice(lang['titles'])} {domain} n° {number + 1}-{rng.randint(1000, 9999)}"]
        for _ in range(rng.randint(*paragraphs)):
            lines.append(" ".join(_sentence(rng, lang, domain) for _ in range(rng.randint(*sentences))))
        yield "\n\n".join(lines)


# -- real text --------------------------------------------------------------------------

_TAG = re.compile(r"<[^>]+>")


def dev_corpus_texts(folder: Path = DEV_QA) -> list[str]:
    """Texts of the dev QA corpus in manifest order (HTML reduced to its text)."""
    manifest = folder / "corpus_manifest.jsonl"
    if not manifest.exists():
        return []
    texts = []
    for line in manifest.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        raw = (folder / entry["file"]).read_text(encoding="utf-8", errors="replace")
        if entry["file"].endswith(".html"):
            raw = html.unescape(_TAG.sub(" ", raw.replace("</tr>", "\n").replace("</p>", "\n\n")))
            raw = re.sub(r"[ \t]+", " ", raw)
        texts.append(raw)
    return texts


def dev_questions(folder: Path = DEV_QA) -> list[str]:
    """The dev QA questions (French and English): real queries for recall measurements."""
    questions = []
    for name in ("qa_fr.jsonl", "qa_en.jsonl"):
        path = folder / name
        if path.exists():
            questions += [json.loads(line)["question"] for line in path.read_text(encoding="utf-8").splitlines()]
    return questions


def chunk_corpus(count: int, *, embedder_name: str = "use-multilingual-v3", seed: int = 7) -> list[str]:
    """``count`` chunk texts: the dev corpus first, then generated pages, cut by the
    production chunker sized for ``embedder_name``."""
    from models.registry import build_embedder
    from pipelines.chunking import chunker_for
    from pipelines.types import Page

    cached = CACHE / f"{embedder_name}-texts-seed{seed}.jsonl"
    if cached.exists():
        lines = cached.read_text(encoding="utf-8").splitlines()
        if len(lines) >= count:
            return [json.loads(line) for line in lines[:count]]
    chunker = chunker_for(build_embedder(embedder_name))
    out: list[str] = []

    def add(texts) -> bool:
        for text in texts:
            out.extend(c.text for c in chunker.chunk_page(Page(1, text)))
            if len(out) >= count:
                return True
        return False

    if not add(dev_corpus_texts()):
        add(generate_pages(10**9, seed=seed))
    out = out[:count]
    # Chunking 100k passages takes minutes: keep the texts next to their vectors.
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text("".join(json.dumps(t, ensure_ascii=False) + "\n" for t in out), encoding="utf-8")
    os.replace(tmp, cached)
    return out


# -- embeddings -------------------------------------------------------------------------


def cache_path(embedder_name: str, kind: str = "chunks") -> Path:
    return CACHE / f"{embedder_name}-{kind}"


def cached_vectors(embedder_name: str = "use-multilingual-v3") -> np.ndarray:
    """Every chunk vector cached so far (row ``i`` = chunk ``i`` of ``chunk_corpus``)."""
    blocks = sorted(cache_path(embedder_name).glob("block-*.npy"))
    if not blocks:
        return np.zeros((0, 0), np.float32)
    return np.concatenate([np.load(b) for b in blocks])


def embed_cached(count: int, *, embedder_name: str = "use-multilingual-v3", block: int = 2000,
                 log=print) -> np.ndarray:
    """Vectors of the first ``count`` chunks of ``chunk_corpus``, cached and resumable.

    The cache is a folder of float32 ``.npy`` blocks of ``block`` rows, each written to
    a temporary file then renamed (``os.replace``), so an interrupted job leaves only
    complete blocks. The corpus is deterministic, so row ``i`` is always chunk ``i``.
    """
    from models.registry import build_embedder

    folder = cache_path(embedder_name)
    folder.mkdir(parents=True, exist_ok=True)
    done = cached_vectors(embedder_name)
    if len(done) >= count:
        return done[:count]
    texts = chunk_corpus(count, embedder_name=embedder_name)
    embedder = build_embedder(embedder_name)
    have = len(done)
    started = time.perf_counter()
    for first in range(have - have % block, len(texts), block):
        target = folder / f"block-{first // block:05d}.npy"
        if target.exists() and len(np.load(target, mmap_mode="r")) == min(block, len(texts) - first):
            continue
        vectors = np.asarray(embedder.embed_documents(texts[first:first + block]), np.float32)
        tmp = folder / f".tmp-{os.getpid()}.npy"
        np.save(tmp, vectors)
        os.replace(tmp, target)
        rate = (first + len(vectors) - have) / (time.perf_counter() - started)
        log(f"{first + len(vectors)}/{count} chunks embedded ({rate:.1f}/s)")
    return cached_vectors(embedder_name)[:count]


def sparse_cached(count: int, *, embedder_name: str = "use-multilingual-v3") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lexical sparse vectors of the first ``count`` chunks as CSR arrays
    ``(indptr, indices, values)``, cached (encoding runs at a few hundred chunks/s)."""
    from models.sparse import LexicalSparseEncoder

    encoder = LexicalSparseEncoder()
    path = CACHE / f"sparse-{encoder.version}-{embedder_name}-{count}.npz"
    if path.exists():
        data = np.load(path)
        return data["indptr"], data["indices"], data["values"]
    vectors = encoder.encode_documents(chunk_corpus(count, embedder_name=embedder_name))
    indptr = np.cumsum([0] + [len(v.indices) for v in vectors]).astype(np.int64)
    indices = np.fromiter((i for v in vectors for i in v.indices), np.int64, int(indptr[-1]))
    values = np.fromiter((x for v in vectors for x in v.values), np.float32, int(indptr[-1]))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, indptr=indptr, indices=indices, values=values)
    os.replace(tmp, path)
    return indptr, indices, values


def embed_questions(embedder_name: str = "use-multilingual-v3") -> np.ndarray:
    """Query vectors of the dev questions (cached)."""
    from models.registry import build_embedder

    path = cache_path(embedder_name, "questions.npy")
    if path.exists():
        return np.load(path)
    embedder = build_embedder(embedder_name)
    vectors = np.stack([embedder.embed_query(q) for q in dev_questions()]).astype(np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


@dataclass(frozen=True)
class VectorStats:
    """Mean and covariance (as a square-root factor) of a set of real unit vectors."""

    mean: np.ndarray
    factor: np.ndarray
    """``factor @ factor.T`` is the covariance: PCA axes scaled by their std."""

    @classmethod
    def of(cls, vectors: np.ndarray) -> VectorStats:
        x = np.asarray(vectors, np.float64)
        mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        return cls(mean=mean, factor=vt.T * (s / np.sqrt(max(len(x) - 1, 1))))


def synthetic_vectors(stats: VectorStats, count: int, *, seed: int = 0, batch: int = 65536) -> Iterator[np.ndarray]:
    """Blocks of unit float32 vectors drawn from N(mean, cov) of ``stats``, deterministic."""
    rng = np.random.default_rng(seed)
    rank = stats.factor.shape[1]
    for first in range(0, count, batch):
        n = min(batch, count - first)
        x = stats.mean + rng.standard_normal((n, rank)) @ stats.factor.T
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        yield x.astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    pages = sub.add_parser("pages", help="print generated pages")
    pages.add_argument("--count", type=int, default=2)
    pages.add_argument("--seed", type=int, default=7)
    sparse = sub.add_parser("sparse", help="encode corpus chunks' sparse vectors into the cache")
    sparse.add_argument("--count", type=int, default=100_000)
    embed = sub.add_parser("embed", help="embed corpus chunks into the cache")
    embed.add_argument("--count", type=int, default=100_000)
    embed.add_argument("--embedder", default="use-multilingual-v3")
    args = parser.parse_args()
    if args.command == "pages":
        for page in generate_pages(args.count, seed=args.seed):
            print(page, end="\n\n----\n\n")
    elif args.command == "sparse":
        sparse_cached(args.count)
    else:
        embed_questions(args.embedder)
        embed_cached(args.count, embedder_name=args.embedder, log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    main()
