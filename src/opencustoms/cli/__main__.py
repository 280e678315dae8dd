from opencustoms.cli.main import main

main()
