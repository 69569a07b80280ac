"""TODO sheets"""
