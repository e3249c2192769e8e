"""The M2PT Explorer dashboard (Gradio). UI only: the logic lives in m2pt_core.explorer."""
