"""Saliency: attributions of a student, their aggregation, the saliency of a run, figures, the explorer."""
