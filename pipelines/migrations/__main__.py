import sys

from pipelines.migrations import main

sys.exit(main())
