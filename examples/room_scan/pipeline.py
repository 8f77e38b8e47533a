"""The room-scan pipelines: find the floor in a room photo, score it and profile its edges.

rainbow run examples/room_scan/pipeline.py:room_scan --corpus DIR
(make a corpus with: python -m examples.room_scan.corpus DIR --count 8)
"""

import rainbow as rb
from examples.room_scan import modules  # noqa: F401  (makes the module interfaces known to the compiler)


@rb.pipeline(name="edge-profile")
def edge_profile(image: rb.Asset):
    """Edges of an image and how dense they are: a reusable sub-pipeline."""
    found = rb.step("edges@latest", image=image)
    density = rb.step("edge_density@1.0", edges=found.edges)
    return {"edges": found.edges, "density": density.density}


@rb.pipeline(name="room-scan", timeout=600)
def room_scan(photo: rb.Asset, floor_truth: rb.Asset):
    """Upright and shrink the photo, segment the floor, score it, and draw the result."""
    norm = rb.step("normalize@1.0", photo=photo, max_side=512)
    seg = rb.step("segment_floor@latest", image=norm.image)
    whole = edge_profile(image=norm.image)
    floor = rb.step("mask_image@latest", image=norm.image, mask=seg.mask)
    floor_profile = edge_profile.named("floor-profile")(image=floor.image)
    score = rb.step("score_floor@latest", mask=seg.mask, truth=floor_truth)
    fused = rb.step("fuse@latest", image=norm.image, mask=seg.mask, edges=whole["edges"])
    return {
        "overlay": fused.overlay,
        "mask": seg.mask,
        "iou": score.iou,
        "orientation": norm.orientation,
        "density": whole["density"],
        "floor_density": floor_profile["density"],
    }
