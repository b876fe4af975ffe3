"""Model-free evaluation: ranking metrics (one NDCG, one gain), baselines, fusion, the position-bias probe."""
