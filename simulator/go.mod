module kuaifan/simulator

go 1.26
