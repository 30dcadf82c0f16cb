from matching.main import main

main()
