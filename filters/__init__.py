"""pyfilter's filters, one module per chain name."""
