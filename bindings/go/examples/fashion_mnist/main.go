// Command fashion_mnist trains configs/fashion_mnist_mlp.json through libmmhook.so with two
// hooks written in Go: a loss logger (every 100 iterations, and each epoch's mean loss) and an
// early stopper that stops training when the first validation metric has not improved for
// -patience epochs. Ctrl-C asks the runner to stop after the current iteration. The config is
// read into mmhook.Config (LoadConfig) and the flags override its fields.
//
// Usage: fashion_mnist [-work-dir DIR] [-max-epochs N] [-patience N] CONFIG.json
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"

	"mmhook/mmhook"
)

func main() {
	workDir := flag.String("work-dir", "", "override work_dir")
	maxEpochs := flag.Int("max-epochs", 0, "override train_cfg.max_epochs (0 keeps the config's)")
	patience := flag.Int("patience", 2, "epochs without improvement before stopping")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: fashion_mnist [-work-dir DIR] [-max-epochs N] [-patience N] CONFIG.json")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *workDir, *maxEpochs, *patience); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(configPath, workDir string, maxEpochs, patience int) error {
	cfg, err := mmhook.LoadConfig(configPath)
	if err != nil {
		return err
	}
	if workDir != "" {
		cfg.WorkDir = workDir
	}
	if maxEpochs > 0 {
		if cfg.TrainCfg == nil {
			return fmt.Errorf("%s: no train_cfg to set max_epochs in", configPath)
		}
		cfg.TrainCfg.MaxEpochs = int64(maxEpochs)
	}

	r, err := mmhook.NewRunnerFromConfig(cfg)
	if err != nil {
		return err
	}
	defer r.Close()
	fmt.Println("libmmhook", mmhook.LibraryVersionString())

	var losses []float64
	err = r.RegisterHook("GoLossLogger", mmhook.PriorityLow,
		mmhook.StagesOf(mmhook.StageAfterTrainIter, mmhook.StageAfterTrainEpoch), func(c *mmhook.HookCtx) mmhook.HookAction {
			if c.Stage() == mmhook.StageAfterTrainIter {
				loss, _, _ := c.Scalar("train/loss")
				losses = append(losses, loss)
				if c.Iter()%100 == 0 {
					lr, _ := c.Lr(0)
					fmt.Printf("[go] epoch %d iter %6d loss %.4f lr %.4f\n", c.Epoch(), c.Iter(), loss, lr)
				}
				return mmhook.Continue
			}
			sum := 0.0
			for _, l := range losses {
				sum += l
			}
			if len(losses) > 0 {
				fmt.Printf("[go] epoch %d done: mean train loss %.4f over %d iterations\n", c.Epoch(), sum/float64(len(losses)), len(losses))
			}
			losses = losses[:0]
			return mmhook.Continue
		})
	if err != nil {
		return err
	}

	best, bad := -1e300, 0
	err = r.RegisterHook("GoEarlyStopping", mmhook.PriorityVeryLow, mmhook.StageAfterValEpoch.Bit(),
		func(c *mmhook.HookCtx) mmhook.HookAction {
			m := c.Metrics()
			if len(m) == 0 {
				return mmhook.Continue
			}
			fmt.Printf("[go] validation after epoch %d: %v\n", c.Epoch(), m)
			if m[0].Value > best {
				best, bad = m[0].Value, 0
				return mmhook.Continue
			}
			bad++
			if bad >= patience {
				fmt.Printf("[go] %s has not improved for %d epochs (best %.4f): stopping\n", m[0].Name, patience, best)
				return mmhook.Stop
			}
			return mmhook.Continue
		})
	if err != nil {
		return err
	}

	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	defer signal.Stop(interrupts)
	go func() {
		for range interrupts {
			fmt.Println("[go] interrupt: stopping after the current iteration")
			r.RequestStop()
		}
	}()

	if err := r.Train(); err != nil {
		return err
	}
	fmt.Printf("trained %d epochs (%d iterations); last metrics %s\n", r.Epoch(), r.Iter(), r.MetricsJSON())
	if ck := r.LastCheckpoint(); ck != "" {
		fmt.Println("last checkpoint:", ck)
	}
	return nil
}
