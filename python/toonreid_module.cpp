// The Python module `toonreid` (its compiled part, _toonreid): the library's entry points
// on numpy arrays. Arrays cross as float32 row-major [N, D] (FAISS's convention);
// results are returned without a copy where the layout allows (the array keeps the
// tensor alive). Long calls release the GIL. toonreid's errors arrive as
// toonreid.Error / ConfigError / DataError with the library's message.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <torch/types.h>

#include <memory>

#include "core/config.h"
#include "core/error.h"
#include "core/runtime.h"
#include "data/dataset.h"
#include "data/image_io.h"
#include "eval/cross_domain.h"
#include "eval/retrieval_metrics.h"
#include "retrieval/distance.h"
#include "retrieval/postprocess.h"
#include "retrieval/rerank.h"
#include "serve/embedder.h"
#include "toonreid_schema.h"

namespace py = pybind11;
using namespace toonreid;

namespace {

// A config with the schema it refers to (Config keeps a pointer to its schema).
struct ConfigHandle {
  std::shared_ptr<ConfigSchema> schema;
  std::shared_ptr<Config> config;
};

ConfigHandle load(const std::optional<std::string>& path, const std::vector<std::string>& overrides) {
  auto schema = std::make_shared<ConfigSchema>(toonreid_schema());
  auto config = std::make_shared<Config>(path ? load_config(*schema, *path, overrides) : make_config(*schema, overrides));
  return {schema, config};
}

py::object value_of(const ConfigValue& v) {
  return std::visit([](const auto& x) -> py::object { return py::cast(x); }, v);
}

// [N, D] float32 numpy array -> tensor sharing its memory (valid while the array lives).
torch::Tensor as_tensor(const py::array_t<float, py::array::c_style | py::array::forcecast>& a, const char* what) {
  if (a.ndim() != 2) throw Error(std::string(what) + ": expected a 2-d array [N, D], got " + std::to_string(a.ndim()) + "-d");
  return torch::from_blob(const_cast<float*>(a.data()), {a.shape(0), a.shape(1)}, torch::kFloat);
}

// A tensor as a numpy array without a copy: the array owns a reference to the tensor.
py::array to_numpy(torch::Tensor t) {
  t = t.to(torch::kFloat).contiguous();
  auto* owner = new torch::Tensor(t);
  py::capsule keep(owner, [](void* p) { delete static_cast<torch::Tensor*>(p); });
  std::vector<py::ssize_t> shape(t.sizes().begin(), t.sizes().end());
  std::vector<py::ssize_t> strides;
  for (auto s : t.strides()) strides.push_back(static_cast<py::ssize_t>(s * sizeof(float)));
  return py::array(py::dtype::of<float>(), shape, strides, t.data_ptr<float>(), keep);
}

std::vector<int> labels_of(const py::sequence& ids, std::map<std::string, int>& names) {
  std::vector<int> labels;
  for (const auto& id : ids) {
    const std::string key = py::str(id);
    labels.push_back(names.emplace(key, static_cast<int>(names.size())).first->second);
  }
  return labels;
}

py::dict metrics_dict(const RetrievalMetrics& m) {
  py::dict d;
  d["mAP"] = m.mAP;
  d["mINP"] = m.mINP;
  d["rank1"] = m.rank(1);
  d["rank5"] = m.rank(5);
  d["rank10"] = m.rank(10);
  d["cmc"] = m.cmc;
  d["queries"] = m.queries;
  d["skipped"] = m.skipped;
  return d;
}

cv::Mat image_of(const py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>& a) {
  if (a.ndim() != 3 || a.shape(2) != 3)
    throw DataError("images as arrays must be uint8 H x W x 3 (RGB), got " + std::to_string(a.ndim()) + "-d");
  cv::Mat view(static_cast<int>(a.shape(0)), static_cast<int>(a.shape(1)), CV_8UC3, const_cast<std::uint8_t*>(a.data()));
  return view.clone();
}

class EmbedderHandle {
 public:
  EmbedderHandle(ConfigHandle config, const std::optional<std::string>& weights)
      : config_(std::move(config)) {
    set_compute_threads(static_cast<int>(config_.config->get_int("run.threads")));
    embedder_ = std::make_unique<Embedder>(*config_.config, weights.value_or(""));
  }
  // Paths (str / os.PathLike), a Dataset, or uint8 H x W x 3 RGB arrays.
  py::array embed(const py::object& images) {
    if (py::isinstance<Dataset>(images)) {
      const Dataset data = images.cast<Dataset>();
      torch::Tensor f;
      {
        py::gil_scoped_release release;
        f = embedder_->embed(data);
      }
      return to_numpy(f);
    }
    std::vector<ImageRecord> records;
    std::vector<cv::Mat> pictures;
    for (const auto& item : images) {
      if (py::isinstance<py::array>(item)) pictures.push_back(image_of(item.cast<py::array_t<std::uint8_t>>()));
      else records.emplace_back(py::str(item).cast<std::string>(), "?");
    }
    if (!records.empty() && !pictures.empty()) throw Error("embed: give paths or arrays, not both in one call");
    torch::Tensor f;
    py::gil_scoped_release release;
    if (!records.empty()) {
      f = embedder_->embed(Dataset(std::move(records), "python"));
    } else {
      std::vector<cv::Mat> faces;
      for (const auto& p : pictures) {
        auto found = embedder_->find_faces(p, FaceSelection{true, true});
        faces.push_back(found.front().chip);
      }
      f = faces.empty() ? torch::zeros({0, embedder_->dim()}) : embedder_->embed_chips(faces);
    }
    py::gil_scoped_acquire acquire;
    return to_numpy(f);
  }
  int64_t dim() const { return embedder_->dim(); }
  std::string fingerprint() const { return embedder_->fingerprint(); }
  std::string preprocessing() const { return embedder_->preprocessing(); }

 private:
  ConfigHandle config_;
  std::unique_ptr<Embedder> embedder_;
};

}  // namespace

PYBIND11_MODULE(_toonreid, m) {
  m.doc() = "toonreid: cartoon/caricature <-> photo face re-identification (C++ library bindings)";
  auto error = py::register_exception<Error>(m, "Error", PyExc_RuntimeError);
  py::register_exception<ConfigError>(m, "ConfigError", error.ptr());
  py::register_exception<DataError>(m, "DataError", error.ptr());

  py::class_<ConfigHandle>(m, "Config", "A merged configuration (YAML file, _BASE_ chain, key=value overrides)")
      .def_static("load", [](const std::string& path, const std::vector<std::string>& overrides) { return load(path, overrides); },
                  py::arg("path"), py::arg("overrides") = std::vector<std::string>{})
      .def_static("defaults", [](const std::vector<std::string>& overrides) { return load(std::nullopt, overrides); },
                  py::arg("overrides") = std::vector<std::string>{})
      .def("get", [](const ConfigHandle& c, const std::string& key) { return value_of(c.config->get(key)); }, py::arg("key"))
      .def("to_yaml", [](const ConfigHandle& c) { return c.config->to_yaml(false); });

  py::class_<Dataset>(m, "Dataset", "Image records: WebCaricature layout folder or CSV manifest")
      .def_static("open", [](const std::filesystem::path& root) { return open_dataset(root); }, py::arg("root"))
      .def("split", &Dataset::split, py::arg("name"))
      .def("__len__", &Dataset::size)
      .def_property_readonly("paths", [](const Dataset& d) {
        std::vector<std::string> v;
        for (const auto& r : d.records()) v.push_back(r.path.string());
        return v;
      })
      .def_property_readonly("identities", [](const Dataset& d) {
        std::vector<std::string> v;
        for (const auto& r : d.records()) v.push_back(r.identity);
        return v;
      })
      .def_property_readonly("domains", [](const Dataset& d) {
        std::vector<std::string> v;
        for (const auto& r : d.records()) v.push_back(domain_name(r.domain));
        return v;
      });

  py::class_<EmbedderHandle>(m, "Embedder", "A model and its test-time input pipeline (aligned first with input.align)")
      .def(py::init<ConfigHandle, std::optional<std::string>>(), py::arg("config"), py::arg("weights") = py::none())
      .def("embed", &EmbedderHandle::embed, py::arg("images"),
           "float32 [N, dim] unit rows of paths, a Dataset, or uint8 HxWx3 RGB arrays (largest face of each)")
      .def_property_readonly("dim", &EmbedderHandle::dim)
      .def_property_readonly("fingerprint", &EmbedderHandle::fingerprint)
      .def_property_readonly("preprocessing", &EmbedderHandle::preprocessing);

  m.def("distances", [](const py::array_t<float, py::array::c_style | py::array::forcecast>& q,
                        const py::array_t<float, py::array::c_style | py::array::forcecast>& g, const std::string& kind) {
        const torch::Tensor qt = as_tensor(q, "query features"), gt = as_tensor(g, "gallery features");
        torch::Tensor d;
        {
          py::gil_scoped_release release;
          d = pairwise_distances(qt, gt, parse_distance(kind));
        }
        return to_numpy(d);
      }, py::arg("query"), py::arg("gallery"), py::arg("kind") = "euclidean",
      "[Q, G] distances (euclidean, cosine or angular) of query [Q, D] to gallery [G, D] features");

  m.def("rerank", [](const py::array_t<float, py::array::c_style | py::array::forcecast>& q,
                     const py::array_t<float, py::array::c_style | py::array::forcecast>& g, const std::string& kind,
                     int k1, int k2, double lambda) {
        const torch::Tensor qt = as_tensor(q, "query features"), gt = as_tensor(g, "gallery features");
        ReRankOptions o;
        o.k1 = k1, o.k2 = k2, o.lambda = lambda;
        torch::Tensor d;
        {
          py::gil_scoped_release release;
          d = rerank_k_reciprocal(qt, gt, parse_distance(kind), o);
        }
        return to_numpy(d);
      }, py::arg("query"), py::arg("gallery"), py::arg("kind") = "euclidean", py::arg("k1") = 20, py::arg("k2") = 6,
      py::arg("lambda_") = 0.3, "k-reciprocal re-ranked [Q, G] distances (sparse neighbour lists)");

  m.def("evaluate", [](const py::array_t<float, py::array::c_style | py::array::forcecast>& q,
                       const py::array_t<float, py::array::c_style | py::array::forcecast>& g, const py::sequence& q_ids,
                       const py::sequence& g_ids, const std::string& kind) {
        const torch::Tensor qt = as_tensor(q, "query features"), gt = as_tensor(g, "gallery features");
        std::map<std::string, int> names;
        const std::vector<int> ql = labels_of(q_ids, names), gl = labels_of(g_ids, names);
        if (static_cast<int64_t>(ql.size()) != qt.size(0) || static_cast<int64_t>(gl.size()) != gt.size(0))
          throw Error("evaluate: one identity per query row and per gallery row is needed");
        RetrievalMetrics metrics;
        {
          py::gil_scoped_release release;
          metrics = evaluate_retrieval(qt, gt, parse_distance(kind), ql, gl);
        }
        return metrics_dict(metrics);
      }, py::arg("query"), py::arg("gallery"), py::arg("query_ids"), py::arg("gallery_ids"), py::arg("kind") = "euclidean",
      "mAP, mINP, CMC of the queries against the gallery (identities: any hashable labels)");

  m.def("evaluate_dataset_json", [](const ConfigHandle& config, const py::array_t<float, py::array::c_style | py::array::forcecast>& f,
                                    const Dataset& data) {
        const torch::Tensor ft = as_tensor(f, "features");
        if (ft.size(0) != static_cast<int64_t>(data.size()))
          throw Error("evaluate_dataset: " + std::to_string(ft.size(0)) + " feature rows for " +
                      std::to_string(data.size()) + " images");
        std::string out;
        {
          py::gil_scoped_release release;
          out = to_json(evaluate_cross_domain(ft, data, retrieval_options(*config.config))).dump();
        }
        return out;
      }, py::arg("config"), py::arg("features"), py::arg("dataset"));
}
