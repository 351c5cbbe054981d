// Loading torch.save state dicts written by Python's PyTorch (Debian's python3-torch).
#include <gtest/gtest.h>

#include <torch/utils.h>

#include <cstdlib>

#include "core/error.h"
#include "model/backbone.h"
#include "model/state_dict.h"
#include "retrieval/npy.h"
#include "test_util.h"

namespace toonreid {
namespace {

const char* kPython = "/usr/bin/python3";

bool python_torch_available() {
  return std::system((std::string(kPython) + " -c 'import torch' > /dev/null 2>&1").c_str()) == 0;
}

torch::Tensor param(torch::nn::Module& m, const std::string& key) {
  for (auto& p : m.named_parameters()) if (p.key() == key) return p.value();
  for (auto& b : m.named_buffers()) if (b.key() == key) return b.value();
  return {};
}

TEST(StateDict, LoadsWhatPythonSaved) {
  if (!python_torch_available()) GTEST_SKIP() << "python3-torch not installed";
  testing::TempDir dir;
  const std::string script = R"(
import sys, torch, collections
out = sys.argv[1]
sd = collections.OrderedDict()
sd['conv1.weight'] = torch.arange(64*3*7*7, dtype=torch.float32).view(64, 3, 7, 7) / 1000
sd['bn1.running_mean'] = torch.full((64,), 0.5)
sd['layer4.1.bn2.bias'] = torch.full((512,), -2.0)
sd['fc.weight'] = torch.zeros(1000, 512)
sd['fc.bias'] = torch.zeros(1000)
torch.save(dict(sd), out + '/plain.pth')
torch.save({'state_dict': collections.OrderedDict(('module.' + k, v) for k, v in sd.items()), 'epoch': 7}, out + '/wrapped.pth')
# What model.state_dict() returns: an OrderedDict with _metadata, parameters included.
m = torch.nn.Sequential(collections.OrderedDict([('conv1', torch.nn.Conv2d(3, 64, 7, bias=False)), ('bn1', torch.nn.BatchNorm2d(64))]))
with torch.no_grad():
    m.conv1.weight.copy_(sd['conv1.weight'])
    m.bn1.running_mean.fill_(0.5)
full = m.state_dict()
big = torch.cat([torch.zeros(512), torch.full((512,), -2.0)])
full['layer4.1.bn2.bias'] = big[512:]  # a view: storage offset 512 into a larger storage
full['fc.weight'] = sd['fc.weight']
full['fc.bias'] = sd['fc.bias']
torch.save(full, out + '/ordered.pth')
bad = dict(sd)
bad['bn1.running_mean'] = torch.zeros(32)
torch.save(bad, out + '/bad.pth')
)";
  testing::write_text(dir / "make.py", script);
  ASSERT_EQ(std::system((std::string(kPython) + " " + (dir / "make.py").string() + " " + dir.path().string()).c_str()), 0);

  for (const char* file : {"plain.pth", "wrapped.pth", "ordered.pth"}) {
    auto net = make_backbone({"resnet18", 1});
    StateDictReport r = load_state_dict(*net, dir / file);
    EXPECT_GE(r.loaded.size(), 3u) << file;
    EXPECT_EQ(r.unexpected, (std::vector<std::string>{"fc.weight", "fc.bias"}));
    EXPECT_FALSE(r.missing.empty());
    EXPECT_FLOAT_EQ(param(*net, "conv1.weight")[1][0][0][0].item<float>(), 147.0f / 1000);  // element [1][0][0][0] = 1 * 3 * 7 * 7
    EXPECT_FLOAT_EQ(param(*net, "bn1.running_mean")[3].item<float>(), 0.5f);
    EXPECT_FLOAT_EQ(param(*net, "layer4.1.bn2.bias")[0].item<float>(), -2.0f);
    EXPECT_THROW(load_state_dict(*net, dir / file, /*strict=*/true), Error);
  }
  auto net = make_backbone({"resnet18", 1});
  try {
    load_state_dict(*net, dir / "bad.pth");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bn1.running_mean"), std::string::npos) << e.what();
  }
}

TEST(StateDict, ClassifierOfAnotherSizeIsSkipped) {
  if (!python_torch_available()) GTEST_SKIP() << "python3-torch not installed";
  testing::TempDir dir;
  testing::write_text(dir / "make.py", "import sys, torch\ntorch.save({'fc.weight': torch.zeros(1000, 8), 'w': torch.ones(3)}, sys.argv[1])\n");
  ASSERT_EQ(std::system((std::string(kPython) + " " + (dir / "make.py").string() + " " + (dir / "c.pth").string()).c_str()), 0);
  struct Net : torch::nn::Module {
    Net() {
      fc = register_module("fc", torch::nn::Linear(torch::nn::LinearOptions(8, 10).bias(false)));
      w = register_parameter("w", torch::zeros({3}));
    }
    torch::nn::Linear fc{nullptr};
    torch::Tensor w;
  } net;
  StateDictReport r = load_state_dict(net, dir / "c.pth");
  EXPECT_EQ(r.skipped, (std::vector<std::string>{"fc.weight"}));
  EXPECT_EQ(r.loaded, (std::vector<std::string>{"w"}));
  EXPECT_FLOAT_EQ(net.w.sum().item<float>(), 3.0f);
}

// A real torchvision model: every backbone entry loads, and the feature maps agree.
TEST(StateDict, TorchvisionResNet50MatchesExactly) {
  if (std::system((std::string(kPython) + " -c 'import torchvision, numpy' > /dev/null 2>&1").c_str()) != 0)
    GTEST_SKIP() << "python3-torchvision not installed";
  testing::TempDir dir;
  testing::write_text(dir / "make.py", R"(
import sys, numpy as np, torch, torchvision
out = sys.argv[1]
torch.manual_seed(0)
m = torchvision.models.resnet50().eval()
for mod in m.modules():  # non-trivial BatchNorm statistics
    if isinstance(mod, torch.nn.BatchNorm2d):
        mod.running_mean.uniform_(-0.1, 0.1); mod.running_var.uniform_(0.5, 1.5)
torch.save(m.state_dict(), out + '/r50.pth')
x = torch.randn(2, 3, 64, 64)
with torch.no_grad():
    f = torch.nn.Sequential(*list(m.children())[:-2])(x)
np.save(out + '/x.npy', x.numpy()); np.save(out + '/f.npy', f.numpy())
)");
  ASSERT_EQ(std::system((std::string(kPython) + " " + (dir / "make.py").string() + " " + dir.path().string()).c_str()), 0);
  auto net = make_backbone({"resnet50", 2});  // torchvision's stride
  StateDictReport r = load_state_dict(*net, dir / "r50.pth", /*strict=*/true);
  EXPECT_TRUE(r.missing.empty());
  EXPECT_EQ(r.unexpected, (std::vector<std::string>{"fc.weight", "fc.bias"}));
  net->eval();
  torch::NoGradGuard no_grad;
  torch::Tensor f = net->forward(read_npy(dir / "x.npy"));
  torch::Tensor expected = read_npy(dir / "f.npy");
  ASSERT_EQ(f.sizes(), expected.sizes());
  EXPECT_TRUE(torch::allclose(f, expected, 1e-4, 1e-4)) << (f - expected).abs().max().item<float>();
}

TEST(StateDict, NonPyTorchFilesAreNamed) {
  testing::TempDir dir;
  testing::write_text(dir / "x.pth", "not a zip");
  try {
    read_state_dict(dir / "x.pth");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.pth"), std::string::npos);
  }
  EXPECT_THROW(read_state_dict(dir / "missing.pth"), Error);
}

}  // namespace
}  // namespace toonreid
