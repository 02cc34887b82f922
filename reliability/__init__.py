"""
Long-running proofs of pyfilter's reliability: the fault matrix through
real Courier, the long fuzz run and the soak (see RELIABILITY.md).
"""
