module kuaifan/dashboard

go 1.26
