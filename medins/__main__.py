from medins.cli import main

main()
