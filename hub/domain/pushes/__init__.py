"""TODO pushes"""
