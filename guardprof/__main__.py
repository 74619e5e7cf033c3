from guardprof.cli.main import main

main()
