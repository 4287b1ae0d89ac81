from cstool.cli import main

main()
