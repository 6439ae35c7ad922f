module kuaifan/agent

go 1.26
