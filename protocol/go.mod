module kuaifan/protocol

go 1.26
