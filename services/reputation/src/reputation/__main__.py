from reputation.main import main

main()
