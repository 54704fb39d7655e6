from medins.launch import main

main()
