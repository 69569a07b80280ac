"""Spreadsheets for the smallest suppliers: notices wait for an export, answers come back
in an imported sheet (``hub.domain.sheets.files``). See README.md beside this file."""
from connectors.spreadsheet.connector import Spreadsheet

__all__ = ["Spreadsheet"]
