import sys

from localkafka.cli import main

sys.exit(main())
