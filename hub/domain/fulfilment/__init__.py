"""TODO fulfilment"""
