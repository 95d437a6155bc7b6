"""Ticket text: Markdown rendered for Jira (ADF for Cloud), and Jira's field limits."""
