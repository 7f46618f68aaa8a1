import sys

from deit.cli.main import main

sys.exit(main())
