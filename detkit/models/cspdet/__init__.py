"""CSPDet: detkit's own one-stage detector (a CSP backbone, a PAN neck, a decoupled anchor-free
head with distribution-focal box sides, trained with a task-aligned assigner), written from the
papers (CSPNet, PANet, YOLOX, GFL, TOOD) in torchvision's detector interface."""

from detkit.models.cspdet.detector import CSPDet, cspdet, cspdet_n, cspdet_s

__all__ = ["CSPDet", "cspdet", "cspdet_n", "cspdet_s"]
