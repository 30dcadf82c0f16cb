from sessions.main import main

main()
