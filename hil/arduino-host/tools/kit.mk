# kit.mk: the make rules behind `build` (see the kit README, "How a sketch is built").
# Inputs: KIT BOARD ABI KITOBJ SKOBJ SKETCH_DIR GEN SK_SRCS OUT_FW [AHK_CXXFLAGS]
# The kit library is built once per board and ABI into KITOBJ and shared by every sketch.

ifeq ($(ABI),32)
ARCH := -m32
else
ARCH :=
endif

ifeq ($(BOARD),esp32c3)
BOARD_DEFS := -DARDUINO_ESP32C3_DEV -DCONFIG_IDF_TARGET_ESP32C3=1 -DARDUINO_BOARD='"ESP32C3_DEV"' \
              -DARDUINO_VARIANT='"esp32c3"' -DAHK_BOARD='"esp32c3"'
else
BOARD_DEFS := -DARDUINO_ESP32_DEV -DCONFIG_IDF_TARGET_ESP32=1 -DARDUINO_BOARD='"ESP32_DEV"' \
              -DARDUINO_VARIANT='"esp32"' -DAHK_BOARD='"esp32"'
endif
# VT=1: the co-simulation variant (src/runtime/ahk_vt.h): the kit library only; the sketch is unchanged
ifeq ($(VT),1)
VT_DEFS := -DAHK_VIRTUAL_TIME=1
else
VT_DEFS :=
endif
COMMON_DEFS := -DESP32 -DARDUINO=10819 -DARDUINO_ARCH_ESP32 -DAHK_HOST_KIT=1 $(BOARD_DEFS)

KIT_INC := -I$(KIT)/include -I$(KIT)/src/runtime -I$(KIT)/src/core
# 64-bit file offsets: a 32-bit readdir()/stat() fails with EOVERFLOW on file systems with large inode numbers
KIT_CXXFLAGS := $(ARCH) -std=gnu++17 -O1 -g -pthread -Wall -Wextra -Werror -D_FILE_OFFSET_BITS=64 $(KIT_INC) $(COMMON_DEFS) $(VT_DEFS) -MMD -MP
# sketches compile as in the Arduino IDE with "Compiler warnings: None"
SK_CXXFLAGS := $(ARCH) -std=gnu++17 -O1 -g -pthread -w -I$(KIT)/include -I$(SKETCH_DIR) $(COMMON_DEFS) -MMD -MP \
               $(AHK_CXXFLAGS)
SK_CFLAGS := $(ARCH) -std=gnu11 -O1 -g -w -I$(KIT)/include -I$(SKETCH_DIR) $(COMMON_DEFS) -MMD -MP $(AHK_CXXFLAGS)
WRAP := -Wl,--wrap=time -Wl,--wrap=gettimeofday -Wl,--wrap=settimeofday
LDFLAGS := $(ARCH) -static -pthread $(WRAP)
# AHK_SANITIZE=1 (with ABI 64): the kit and its tests under ASan/UBSan, dynamically linked
ifeq ($(AHK_SANITIZE),1)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer
KIT_CXXFLAGS += $(SAN)
SK_CXXFLAGS += $(SAN)
LDFLAGS := $(ARCH) -pthread $(WRAP) $(SAN)
endif

KIT_SRCS := $(wildcard $(KIT)/src/core/*.cpp $(KIT)/src/runtime/*.cpp $(KIT)/src/net/*.cpp)
KIT_OBJS := $(patsubst $(KIT)/src/%.cpp,$(KITOBJ)/%.o,$(KIT_SRCS))
KIT_LIB := $(KITOBJ)/libahk.a

# rebuild when the flags change (a flags file per object directory)
ifneq ($(file < $(KITOBJ)/flags.txt),$(KIT_CXXFLAGS))
$(shell mkdir -p $(KITOBJ))
$(file > $(KITOBJ)/flags.txt,$(KIT_CXXFLAGS))
endif
ifneq ($(SKOBJ),)
ifneq ($(file < $(SKOBJ)/flags.txt),$(SK_CXXFLAGS) $(SK_CFLAGS))
$(shell mkdir -p $(SKOBJ))
$(file > $(SKOBJ)/flags.txt,$(SK_CXXFLAGS) $(SK_CFLAGS))
endif
endif

SK_OBJS := $(GEN).o $(patsubst $(SKETCH_DIR)/%,$(SKOBJ)/sk/%.o,$(SK_SRCS))

.PHONY: all kit
all: $(OUT_FW)
kit: $(KIT_LIB)

$(KITOBJ)/%.o: $(KIT)/src/%.cpp $(KITOBJ)/flags.txt
	@mkdir -p $(dir $@)
	$(CXX) $(KIT_CXXFLAGS) -c $< -o $@

$(KIT_LIB): $(KIT_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(GEN).o: $(GEN) $(SKOBJ)/flags.txt
	$(CXX) $(SK_CXXFLAGS) -c $< -o $@

$(SKOBJ)/sk/%.cpp.o: $(SKETCH_DIR)/%.cpp $(SKOBJ)/flags.txt
	@mkdir -p $(dir $@)
	$(CXX) $(SK_CXXFLAGS) -c $< -o $@

$(SKOBJ)/sk/%.c.o: $(SKETCH_DIR)/%.c $(SKOBJ)/flags.txt
	@mkdir -p $(dir $@)
	$(CC) $(SK_CFLAGS) -c $< -o $@

$(SKOBJ)/sk/%.S.o: $(SKETCH_DIR)/%.S
	@mkdir -p $(dir $@)
	$(CC) $(SK_CFLAGS) -c $< -o $@

$(OUT_FW): $(SK_OBJS) $(KIT_LIB)
	@mkdir -p $(dir $@)
	$(CXX) -o $@ $(SK_OBJS) $(KIT_LIB) $(LDFLAGS)

-include $(KIT_OBJS:.o=.d) $(SK_OBJS:.o=.d)

# the kit's unit tests (tests/run.sh): one program per tests/test_*.cpp
TESTBIN ?= $(KITOBJ)/tests
TESTS := $(patsubst $(KIT)/tests/%.cpp,$(TESTBIN)/%,$(wildcard $(KIT)/tests/test_*.cpp))
.PHONY: tests
tests: $(TESTS)
$(TESTBIN)/%: $(KIT)/tests/%.cpp $(KIT_LIB)
	@mkdir -p $(dir $@)
	$(CXX) $(KIT_CXXFLAGS) -I$(KIT)/tests $< -o $@ $(KIT_LIB) $(LDFLAGS)
-include $(TESTS:=.d)
