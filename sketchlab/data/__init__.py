"""Quick Draw data: file formats, drawings, the rasterizer, datasets, downloads and augmentation."""
