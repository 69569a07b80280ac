"""TODO returns"""
