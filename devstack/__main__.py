from devstack.entry import main

main()
