module example.com/wl

go 1.19
