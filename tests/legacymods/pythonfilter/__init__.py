"""
Where the reference's admins drop their own filter modules.
"""
