/* Train from a JSON config with a hook written in C: print the loss every 100 iterations and
 * stop early once it falls below a threshold. Build: cc log_loss.c -lmmhook */
#include <mmhook.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static mmh_hook_action_t log_loss(mmh_hook_ctx_t *ctx, void *user_data) {
  const double threshold = *(const double *)user_data;
  double loss = 0;
  int64_t iter = 0;
  mmh_error_t *err = mmh_hook_ctx_get_scalar(ctx, "train/loss", &loss);
  if (!err) err = mmh_hook_ctx_get_iter(ctx, &iter);
  if (err) {
    /* Fail the run with the reason (the message is copied). */
    mmh_error_free(mmh_hook_ctx_set_error(ctx, mmh_error_message(err)));
    mmh_error_free(err);
    return MMH_HOOK_ABORT;
  }
  if (iter % 100 == 0) printf("iter %lld loss %.4f\n", (long long)iter, loss);
  return loss < threshold ? MMH_HOOK_STOP : MMH_HOOK_CONTINUE;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) == (size_t)n) buf[n] = '\0';
  fclose(f);
  return buf;
}

int main(int argc, char **argv) {
  if (argc < 2) return fprintf(stderr, "usage: %s CONFIG.json [LOSS_THRESHOLD]\n", argv[0]), 2;
  static double threshold = 0.0;
  if (argc > 2) threshold = atof(argv[2]);
  char *config = read_file(argv[1]);
  if (!config) return fprintf(stderr, "cannot read %s\n", argv[1]), 1;

  mmh_runner_t *runner = NULL;
  mmh_error_t *err = mmh_runner_create(config, &runner);
  free(config);
  if (!err) {
    mmh_hook_desc_t hook;
    mmh_hook_desc_init(&hook, sizeof hook);
    hook.name = "LogLoss";
    hook.priority = MMH_PRIORITY_BELOW_NORMAL;
    hook.stages = MMH_STAGE_BIT(MMH_STAGE_AFTER_TRAIN_ITER);
    hook.fn = log_loss;
    hook.user_data = &threshold;
    err = mmh_runner_add_hook(runner, &hook, NULL, 0, NULL);
  }
  if (!err) err = mmh_runner_train(runner);
  int64_t iters = 0;
  if (!err) err = mmh_runner_get_iter(runner, &iters);
  int rc = 0;
  if (err) {
    fprintf(stderr, "error %d: %s\n", (int)mmh_error_code(err), mmh_error_message(err));
    rc = 1;
  } else {
    printf("stopped after %lld iterations\n", (long long)iters);
  }
  mmh_error_free(err);
  mmh_runner_destroy(runner);
  return rc;
}
