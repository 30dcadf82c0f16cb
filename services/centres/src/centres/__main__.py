from centres.main import main

main()
