module example.com/diffpair

go 1.19
