from groundstation.cli import main

raise SystemExit(main())
