from alpr.cli import main

main()
