from rainbow.cli.main import main

main()
