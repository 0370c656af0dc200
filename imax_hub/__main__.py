from imax_hub.cli import main

main()
