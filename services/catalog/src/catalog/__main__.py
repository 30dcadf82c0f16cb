from catalog.main import main

main()
