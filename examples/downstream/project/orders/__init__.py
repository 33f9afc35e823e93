"""orders-report: turns order rows into a reviewed report with a flowexec flow."""
