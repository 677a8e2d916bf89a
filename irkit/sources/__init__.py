"""Loading Vercel evidence into the canonical tables (see :mod:`irkit.schema`)."""
