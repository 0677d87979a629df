from kcore import show_config

show_config()
