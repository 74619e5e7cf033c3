from guardprof.cli import main

main()
