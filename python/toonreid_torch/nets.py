"""The embedding networks toonreid trains, in plain PyTorch, with toonreid's parameter
names (so that `toonreid export --format pytorch` files load with strict=True):

- DlibResNet: dlib's face ResNet (dlib_face_recognition_resnet_model_v1) laid out as
  @vladmandic/face-api's FaceRecognitionNet; its 256 -> 128 projection is a 1x1
  convolution on the final map.
- ResNet: ResNet-18/34/50/101 and ResNet-IBN-a (instance normalisation on half of the
  channels after the first convolution of each block in stages 1-3), torchvision names.
- EmbeddingHead: BoT's head (average or GeM pooling, the BNNeck).
- ToonreidEmbedder: backbone + head + toonreid's test-time steps (flip averaging, L2
  normalisation): input float32 [N, 3, H, W] normalised, output float32 [N, D].
"""
import torch
import torch.nn.functional as F
from torch import nn


class DlibConv(nn.Module):
    """Convolution with bias, then dlib's per-channel affine layer (y = x * w + b)."""

    def __init__(self, cin, cout, kernel, stride, padding):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding)
        self.scale_weight = nn.Parameter(torch.ones(cout))
        self.scale_bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x):
        # (conv(x, W) + c) * s + b == conv(x, W * s) + (c * s + b), as toonreid computes it.
        weight = self.conv.weight * self.scale_weight.view(-1, 1, 1, 1)
        bias = torch.addcmul(self.scale_bias, self.conv.bias, self.scale_weight)
        return F.conv2d(x, weight, bias, self.conv.stride, self.conv.padding)


class DlibResidual(nn.Module):
    """Two 3x3 convolutions and a shortcut; down blocks halve the resolution with a
    stride-2 'valid' convolution and a 2x2 average-pooled, zero-channel-padded shortcut."""

    def __init__(self, cin, cout, down):
        super().__init__()
        self.down = down
        self.conv1 = DlibConv(cin, cout, 3, 2 if down else 1, 0 if down else 1)
        self.conv2 = DlibConv(cout, cout, 3, 1, 1)
        self.extra_channels = cout - cin

    def forward(self, x):
        out = self.conv2(torch.relu(self.conv1(x)))
        shortcut = x
        if self.down:
            shortcut = F.avg_pool2d(x, 2, 2)
            if self.extra_channels > 0:
                shortcut = F.pad(shortcut, (0, 0, 0, 0, 0, self.extra_channels))
            dh = shortcut.shape[2] - out.shape[2]
            dw = shortcut.shape[3] - out.shape[3]
            if dh > 0 or dw > 0:  # odd sizes: face-api pads the convolution's map bottom/right
                out = F.pad(out, (0, int(dw), 0, int(dh)))
        return torch.relu(out + shortcut)


_DLIB_LAYOUT = [("conv32_1", 32, 32, False), ("conv32_2", 32, 32, False), ("conv32_3", 32, 32, False),
                ("conv64_down", 32, 64, True), ("conv64_1", 64, 64, False), ("conv64_2", 64, 64, False),
                ("conv64_3", 64, 64, False), ("conv128_down", 64, 128, True), ("conv128_1", 128, 128, False),
                ("conv128_2", 128, 128, False), ("conv256_down", 128, 256, True), ("conv256_1", 256, 256, False),
                ("conv256_2", 256, 256, False), ("conv256_down_out", 256, 256, True)]


class DlibResNet(nn.Module):
    out_channels = 128

    def __init__(self):
        super().__init__()
        self.conv32_down = DlibConv(3, 32, 7, 2, 0)
        self.block_names = []
        for name, cin, cout, down in _DLIB_LAYOUT:
            setattr(self, name, DlibResidual(cin, cout, down))
            self.block_names.append(name)
        self.fc = nn.Conv2d(256, 128, 1, bias=False)

    def forward(self, x):
        x = F.max_pool2d(torch.relu(self.conv32_down(x)), 3, 2)
        for name in self.block_names:
            x = getattr(self, name)(x)
        return self.fc(x)


class IBN(nn.Module):
    """IBN-a: InstanceNorm on the first half of the channels, BatchNorm on the rest."""

    def __init__(self, planes):
        super().__init__()
        self.half = planes // 2
        self.IN = nn.InstanceNorm2d(self.half, affine=True)
        self.BN = nn.BatchNorm2d(planes - self.half)

    def forward(self, x):
        a, b = torch.split(x, [self.half, x.shape[1] - self.half], 1)
        return torch.cat([self.IN(a.contiguous()), self.BN(b.contiguous())], 1)


def _conv(cin, cout, k, stride=1):
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


class Block(nn.Module):
    def __init__(self, cin, planes, stride, bottleneck, ibn, downsample):
        super().__init__()
        self.bottleneck = bottleneck
        expansion = 4 if bottleneck else 1
        if bottleneck:
            self.conv1 = _conv(cin, planes, 1)
            self.bn1 = IBN(planes) if ibn else nn.BatchNorm2d(planes)
            self.conv2 = _conv(planes, planes, 3, stride)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = _conv(planes, planes * expansion, 1)
            self.bn3 = nn.BatchNorm2d(planes * expansion)
        else:
            self.conv1 = _conv(cin, planes, 3, stride)
            self.bn1 = IBN(planes) if ibn else nn.BatchNorm2d(planes)
            self.conv2 = _conv(planes, planes, 3)
            self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if downsample:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes * expansion, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes * expansion))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        if self.bottleneck:
            out = torch.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
        else:
            out = self.bn2(self.conv2(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return torch.relu(out + identity)


RESNETS = {  # name: (bottleneck, blocks per stage, IBN-a)
    "resnet18": (False, [2, 2, 2, 2], False),
    "resnet34": (False, [3, 4, 6, 3], False),
    "resnet50": (True, [3, 4, 6, 3], False),
    "resnet101": (True, [3, 4, 23, 3], False),
    "resnet50_ibn_a": (True, [3, 4, 6, 3], True),
    "resnet101_ibn_a": (True, [3, 4, 23, 3], True),
}


class ResNet(nn.Module):
    def __init__(self, name, last_stride=1):
        super().__init__()
        bottleneck, blocks, ibn_a = RESNETS[name]
        expansion = 4 if bottleneck else 1
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        cin = 64
        for i, (planes, stride) in enumerate(zip([64, 128, 256, 512], [1, 2, 2, last_stride])):
            layer = []
            for b in range(blocks[i]):
                s = stride if b == 0 else 1
                down = b == 0 and (stride != 1 or cin != planes * expansion)
                layer.append(Block(cin, planes, s, bottleneck, ibn_a and i < 3, down))
                cin = planes * expansion
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*layer))
        self.out_channels = 512 * expansion

    def forward(self, x):
        x = self.maxpool(torch.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


class EmbeddingHead(nn.Module):
    """BoT's head at test time: pooling, then the BNNeck; `neck_feat` picks the feature."""

    def __init__(self, channels, pooling="avg", neck_feat="after", gem_p=3.0):
        super().__init__()
        self.pooling = pooling
        self.neck_feat = neck_feat
        if pooling == "gem":
            self.gem_p = nn.Parameter(torch.full((1,), float(gem_p)))
        self.bnneck = nn.BatchNorm1d(channels)

    def forward(self, feature_map):
        if self.pooling == "gem":
            p = self.gem_p.clamp(min=1.0)
            pooled = feature_map.clamp(min=1e-6).pow(p).mean((2, 3)).pow(1.0 / p)
        else:
            pooled = feature_map.mean((2, 3))
        return self.bnneck(pooled) if self.neck_feat == "after" else pooled


class ToonreidEmbedder(nn.Module):
    """toonreid's test-time embedding: the network's feature, averaged with the mirrored
    image's when `flip_average`, then L2-normalised when `l2_normalize` (else the flip
    average is halved), exactly as toonreid's extract and Embedder compute it."""

    def __init__(self, backbone, head, flip_average=True, l2_normalize=True):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.flip_average = flip_average
        self.l2_normalize = l2_normalize

    def features(self, images):
        """The network's embedding of `images` [N, 3, H, W], without the test-time steps."""
        return self.head(self.backbone(images))

    def forward(self, images):
        f = self.features(images)
        if self.flip_average:
            f = f + self.features(torch.flip(images, [3]))
        if self.l2_normalize:
            return f / f.norm(2, 1, keepdim=True).clamp(min=1e-12)
        return f / 2 if self.flip_average else f


def build(meta):
    """The network an export's metadata describes (weights not loaded)."""
    arch, test = meta["architecture"], meta["test"]
    name = arch["backbone"]
    if name == "dlib_resnet":
        backbone = DlibResNet()
    elif name in RESNETS:
        backbone = ResNet(name, int(arch["last_stride"]))
    else:
        raise ValueError("toonreid_torch: unknown backbone %r (known: dlib_resnet, %s)" % (name, ", ".join(RESNETS)))
    head = EmbeddingHead(backbone.out_channels, arch["pooling"], arch["neck_feat"])
    return ToonreidEmbedder(backbone, head, bool(test["flip_average"]), bool(test["l2_normalize"]))
