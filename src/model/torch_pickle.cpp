#include "model/torch_pickle.h"

#include <caffe2/serialize/inline_container.h>

#include <cstring>
#include <map>
#include <memory>
#include <variant>

#include "core/error.h"

namespace toonreid {

namespace {

// The Python values a state-dict pickle contains.
struct PyObject;
using Obj = std::shared_ptr<PyObject>;
struct Storage {
  std::string key;
  at::ScalarType dtype;
};
struct PyObject {
  enum Kind { None, Bool, Int, Float, String, Tuple, List, Dict, Global, StorageRef, Tensor, Mark } kind = None;
  long long i = 0;
  double f = 0;
  std::string s;                           // String; Global "module.name"
  std::vector<Obj> items;                  // Tuple, List
  std::vector<std::pair<Obj, Obj>> dict;   // Dict (insertion order)
  Storage storage;
  torch::Tensor tensor;
};

Obj make(PyObject::Kind k) {
  auto o = std::make_shared<PyObject>();
  o->kind = k;
  return o;
}

at::ScalarType storage_dtype(const std::string& name, const std::string& where) {
  static const std::map<std::string, at::ScalarType> types = {
      {"FloatStorage", at::kFloat}, {"DoubleStorage", at::kDouble}, {"HalfStorage", at::kHalf},
      {"BFloat16Storage", at::kBFloat16}, {"LongStorage", at::kLong}, {"IntStorage", at::kInt},
      {"ShortStorage", at::kShort}, {"CharStorage", at::kChar}, {"ByteStorage", at::kByte},
      {"BoolStorage", at::kBool}};
  auto it = types.find(name);
  if (it == types.end()) throw Error(where + ": unsupported storage type " + name);
  return it->second;
}

class Unpickler {
 public:
  Unpickler(const char* data, std::size_t size, caffe2::serialize::PyTorchStreamReader& reader, std::string where)
      : p_(data), end_(data + size), reader_(reader), where_(std::move(where)) {}

  Obj run() {
    while (p_ < end_) {
      const auto op = static_cast<unsigned char>(*p_++);
      switch (op) {
        case 0x80: p_ += 1; break;                       // PROTO
        case 0x95: p_ += 8; break;                       // FRAME
        case '.': return pop();                          // STOP
        case '(': stack_.push_back(make(PyObject::Mark)); break;
        case '}': stack_.push_back(make(PyObject::Dict)); break;
        case ']': stack_.push_back(make(PyObject::List)); break;
        case ')': stack_.push_back(make(PyObject::Tuple)); break;
        case 'N': stack_.push_back(make(PyObject::None)); break;
        case 0x88: case 0x89: { auto b = make(PyObject::Bool); b->i = op == 0x88; stack_.push_back(b); break; }
        case 'K': push_int(u8()); break;
        case 'M': push_int(u16()); break;
        case 'J': push_int(static_cast<int32_t>(u32())); break;
        case 0x8a: {                                     // LONG1
          const int n = u8();
          long long v = 0;
          for (int k = 0; k < n; ++k) v |= static_cast<long long>(static_cast<unsigned char>(p_[k])) << (8 * k);
          if (n > 0 && n < 8 && (p_[n - 1] & 0x80)) v -= 1LL << (8 * n);
          p_ += n;
          push_int(v);
          break;
        }
        case 'G': {                                      // BINFLOAT, big-endian
          unsigned char b[8];
          for (int k = 0; k < 8; ++k) b[k] = static_cast<unsigned char>(p_[7 - k]);
          auto o = make(PyObject::Float);
          std::memcpy(&o->f, b, 8);
          p_ += 8;
          stack_.push_back(o);
          break;
        }
        case 'X': push_string(u32()); break;             // BINUNICODE
        case 0x8c: push_string(u8()); break;             // SHORT_BINUNICODE
        case 'U': push_string(u8()); break;              // SHORT_BINSTRING
        case 'T': push_string(u32()); break;             // BINSTRING
        case 'c': {                                      // GLOBAL module\nname\n
          std::string module = line(), name = line();
          auto g = make(PyObject::Global);
          g->s = module + "." + name;
          stack_.push_back(g);
          break;
        }
        case 'q': memo_[u8()] = stack_.back(); break;    // BINPUT
        case 'r': memo_[u32()] = stack_.back(); break;   // LONG_BINPUT
        case 0x94: memo_[memo_.size()] = stack_.back(); break;  // MEMOIZE
        case 'h': stack_.push_back(memo_.at(u8())); break;      // BINGET
        case 'j': stack_.push_back(memo_.at(u32())); break;     // LONG_BINGET
        case 't': { auto t = make(PyObject::Tuple); t->items = pop_to_mark(); stack_.push_back(t); break; }
        case 0x85: case 0x86: case 0x87: {               // TUPLE1..3
          auto t = make(PyObject::Tuple);
          t->items.resize(op - 0x84);
          for (auto it = t->items.rbegin(); it != t->items.rend(); ++it) *it = pop();
          stack_.push_back(t);
          break;
        }
        case 'a': { auto v = pop(); stack_.back()->items.push_back(v); break; }   // APPEND
        case 'e': { auto xs = pop_to_mark(); auto& l = stack_.back()->items; l.insert(l.end(), xs.begin(), xs.end()); break; }
        case 's': { auto v = pop(), k = pop(); stack_.back()->dict.emplace_back(k, v); break; }  // SETITEM
        case 'u': {                                      // SETITEMS
          auto xs = pop_to_mark();
          for (std::size_t k = 0; k + 1 < xs.size(); k += 2) stack_.back()->dict.emplace_back(xs[k], xs[k + 1]);
          break;
        }
        case 'b': pop(); break;                          // BUILD: object state (OrderedDict._metadata) is not needed
        case 'Q': stack_.push_back(persistent(pop())); break;  // BINPERSID
        case 'R': { auto args = pop(), fn = pop(); stack_.push_back(call(fn, args)); break; }   // REDUCE
        default: {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02x", op);
          throw Error(where_ + ": unsupported pickle opcode " + hex);
        }
      }
    }
    throw Error(where_ + ": pickle ended without STOP");
  }

 private:
  unsigned u8() { need(1); return static_cast<unsigned char>(*p_++); }
  unsigned u16() { need(2); unsigned v = static_cast<unsigned char>(p_[0]) | static_cast<unsigned char>(p_[1]) << 8; p_ += 2; return v; }
  uint32_t u32() {
    need(4);
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v |= static_cast<uint32_t>(static_cast<unsigned char>(p_[k])) << (8 * k);
    p_ += 4;
    return v;
  }
  void need(std::size_t n) { if (static_cast<std::size_t>(end_ - p_) < n) throw Error(where_ + ": truncated pickle"); }
  std::string line() {
    const char* nl = static_cast<const char*>(std::memchr(p_, '\n', static_cast<std::size_t>(end_ - p_)));
    if (!nl) throw Error(where_ + ": truncated pickle");
    std::string s(p_, nl);
    p_ = nl + 1;
    return s;
  }
  void push_int(long long v) { auto o = make(PyObject::Int); o->i = v; stack_.push_back(o); }
  void push_string(std::size_t n) { need(n); auto o = make(PyObject::String); o->s.assign(p_, n); p_ += n; stack_.push_back(o); }
  Obj pop() {
    if (stack_.empty()) throw Error(where_ + ": malformed pickle (stack underflow)");
    Obj o = stack_.back();
    stack_.pop_back();
    return o;
  }
  std::vector<Obj> pop_to_mark() {
    std::vector<Obj> xs;
    while (!stack_.empty() && stack_.back()->kind != PyObject::Mark) xs.push_back(pop());
    if (stack_.empty()) throw Error(where_ + ": malformed pickle (no MARK)");
    stack_.pop_back();
    return {xs.rbegin(), xs.rend()};
  }

  // ('storage', <storage type global>, key, location, numel)
  Obj persistent(const Obj& pid) {
    if (pid->kind != PyObject::Tuple || pid->items.size() < 3 || pid->items[0]->s != "storage")
      throw Error(where_ + ": unsupported persistent id");
    const std::string type = pid->items[1]->s;  // "torch.FloatStorage"
    auto o = make(PyObject::StorageRef);
    o->storage.dtype = storage_dtype(type.substr(type.rfind('.') + 1), where_);
    o->storage.key = pid->items[2]->s;
    return o;
  }

  torch::Tensor storage_tensor(const Storage& s) {
    auto it = storages_.find(s.key);
    if (it != storages_.end()) return it->second;
    auto [data, size] = reader_.getRecord("data/" + s.key);
    const auto element = static_cast<std::size_t>(c10::elementSize(s.dtype));
    torch::Tensor t = torch::empty({static_cast<int64_t>(size / element)}, torch::TensorOptions().dtype(s.dtype));
    std::memcpy(t.data_ptr(), data.get(), size);
    storages_[s.key] = t;
    return t;
  }

  static std::vector<int64_t> ints(const Obj& tuple) {
    std::vector<int64_t> v;
    for (const auto& x : tuple->items) v.push_back(x->i);
    return v;
  }

  Obj call(const Obj& fn, const Obj& args) {
    const std::string& name = fn->s;
    if (name == "collections.OrderedDict" || name == "builtins.dict") return make(PyObject::Dict);
    if (name == "torch._utils._rebuild_tensor_v2" || name == "torch._utils._rebuild_tensor") {
      // (storage, storage_offset, size, stride, ...)
      const auto& a = args->items;
      if (a.size() < 4 || a[0]->kind != PyObject::StorageRef) throw Error(where_ + ": unexpected tensor record");
      torch::Tensor base = storage_tensor(a[0]->storage);
      auto o = make(PyObject::Tensor);
      o->tensor = base.as_strided(ints(a[2]), ints(a[3]), a[1]->i).clone();
      return o;
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      return args->items.at(0);  // (tensor, requires_grad, hooks)
    }
    throw Error(where_ + ": unsupported object " + name + " in the pickle");
  }

  const char* p_;
  const char* end_;
  caffe2::serialize::PyTorchStreamReader& reader_;
  std::string where_;
  std::vector<Obj> stack_;
  std::map<std::size_t, Obj> memo_;
  std::map<std::string, torch::Tensor> storages_;
};

void collect(const Obj& o, const std::string& prefix, std::vector<std::pair<std::string, torch::Tensor>>& out) {
  if (o->kind == PyObject::Tensor) {
    out.emplace_back(prefix, o->tensor);
  } else if (o->kind == PyObject::Dict) {
    for (const auto& [k, v] : o->dict)
      if (k->kind == PyObject::String) collect(v, prefix.empty() ? k->s : prefix + "." + k->s, out);
  }
}

}  // namespace

std::vector<std::pair<std::string, torch::Tensor>> read_torch_save_tensors(const std::filesystem::path& file) {
  const std::string where = file.string();
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader;
  try {
    reader = std::make_unique<caffe2::serialize::PyTorchStreamReader>(file.string());
  } catch (const c10::Error&) {
    throw Error(where + ": not a PyTorch file saved by torch.save (zip format)");
  }
  auto [data, size] = reader->getRecord("data.pkl");
  Unpickler unpickler(static_cast<const char*>(data.get()), size, *reader, where);
  Obj root = unpickler.run();
  std::vector<std::pair<std::string, torch::Tensor>> out;
  collect(root, "", out);
  return out;
}

}  // namespace toonreid
