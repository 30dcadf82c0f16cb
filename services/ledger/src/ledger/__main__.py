from ledger.main import main

main()
